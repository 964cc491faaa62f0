// placeholder until this component has sources

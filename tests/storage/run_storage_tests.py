#!/usr/bin/env python3
"""Starts the S3 peers for the storage tests, runs the test binary, stops the peers.

usage: run_storage_tests.py TEST_BINARY [doctest args]

- tests/storage/s3_peer.py (always): a SigV4-verifying S3 peer, pages of 3 keys.
- s3rver (when TICKD_NODE_MODULES has it): a real S3 server, but one that checks no signature.
"""
import os
import subprocess
import sys

from tickd_rig import s3


def main():
    binary = sys.argv[1]
    with s3.S3Peer(page_size=3) as peer, s3.S3rver.maybe() as s3rver:
        env = dict(os.environ, TICKD_TEST_S3_PEER=peer.endpoint)
        if s3rver is not None:
            env["TICKD_TEST_S3RVER"] = s3rver.endpoint
        else:
            print("note: s3rver is not installed (TICKD_NODE_MODULES): its cases are left out")
        sys.exit(subprocess.call([binary] + sys.argv[2:], env=env))


if __name__ == "__main__":
    main()

"""The S3 side of the backup crate's S3 test, with boto3 against moto's server.

    s3_peer.py setup ENDPOINT BUCKET
        Creates BUCKET with object lock (COMPLIANCE, 1 day by default), an
        admin user, and a "practice" user allowed to put, get and list in
        BUCKET but not to delete; then turns authentication on. Prints
        {"admin": [id, secret], "practice": [id, secret]} as JSON.
    s3_peer.py checksums ENDPOINT BUCKET ID SECRET
        For every object: whether it carries a SHA-256 checksum, and for a
        single-part object whether it is that of its body. Prints JSON.
    s3_peer.py delete ENDPOINT BUCKET ID SECRET KEY
        Tries to remove KEY for good (its versions); prints what happened per
        version as JSON: "denied" or "deleted".
    s3_peer.py overwrite ENDPOINT BUCKET ID SECRET KEY
        Writes other bytes under KEY (a new version, as a damaged copy).
"""

import base64
import hashlib
import json
import sys
import urllib.request

import boto3
import botocore
from botocore.config import Config

CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def client(endpoint, service, key_id="setup", secret="setup"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=CONFIG,
    )


def setup(endpoint, bucket):
    iam = client(endpoint, "iam")
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    # The rights of a backup that never deletes. Real S3 names these
    # s3:PutObject, s3:GetObject and s3:ListBucket; moto checks the names of
    # the operations, hence the longer list.
    on_bucket = ["s3:ListBucket", "s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"]
    on_objects = [
        "s3:PutObject",
        "s3:GetObject",
        "s3:HeadObject",
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:CompleteMultipartUpload",
        "s3:ListParts",
    ]
    practice = [
        {"Effect": "Allow", "Action": on_bucket, "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Action": on_objects, "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]
    keys = {}
    for user, statements in [("admin", [everything]), ("practice", practice)]:
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName="rights",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = [k["AccessKeyId"], k["SecretAccessKey"]]
    # From now on every call needs the keys of a user with the right.
    request = urllib.request.Request(
        endpoint + "/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request).read()
    print(json.dumps(keys))


def checksums(endpoint, bucket, key_id, secret):
    s3 = client(endpoint, "s3", key_id, secret)
    out = {"objects": 0, "without_checksum": [], "wrong_checksum": []}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out["objects"] += 1
            head = s3.head_object(Bucket=bucket, Key=obj["Key"], ChecksumMode="ENABLED")
            stored = head.get("ChecksumSHA256")
            if not stored:
                out["without_checksum"].append(obj["Key"])
                continue
            if "-" in stored or "-" in head.get("ETag", ""):
                out["multipart"] = out.get("multipart", 0) + 1
                continue  # a multipart upload's checksum is of its parts' checksums
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            if base64.b64encode(hashlib.sha256(body).digest()).decode() != stored:
                out["wrong_checksum"].append(obj["Key"])
    print(json.dumps(out))


def delete(endpoint, bucket, key_id, secret, key):
    s3 = client(endpoint, "s3", key_id, secret)
    results = []
    try:
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        targets = [v["VersionId"] for v in versions if v["Key"] == key]
    except botocore.exceptions.ClientError:
        targets = [None]  # not even allowed to list versions: try the plain delete
    for version in targets:
        args = {"Bucket": bucket, "Key": key}
        if version:
            args["VersionId"] = version
        try:
            s3.delete_object(**args)
            results.append("deleted")
        except botocore.exceptions.ClientError as e:
            results.append("denied:" + e.response["Error"]["Code"])
    print(json.dumps(results))


def overwrite(endpoint, bucket, key_id, secret, key):
    s3 = client(endpoint, "s3", key_id, secret)
    s3.put_object(Bucket=bucket, Key=key, Body=b"not what was sent", ChecksumAlgorithm="SHA256")
    print(json.dumps("overwritten"))


if __name__ == "__main__":
    verb, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "checksums": checksums, "delete": delete, "overwrite": overwrite}[verb](*args)

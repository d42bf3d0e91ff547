"""Validate DICOM audit messages against the DICOM audit message schema.

Usage: validate_audit_xml.py SCHEMA.rnc < lines

Each input line is a syslog line or a bare message; the XML starts at
"<?xml". Prints every invalid message with the schema's complaint and exits 1
if any is invalid, 2 if there was nothing to validate.
"""

import sys

import rnc2rng
from lxml import etree


def main():
    schema_path = sys.argv[1]
    rng = rnc2rng.dumps(rnc2rng.load(schema_path))
    schema = etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))
    checked = invalid = 0
    for number, line in enumerate(sys.stdin.buffer, start=1):
        start = line.find(b"<?xml")
        if start < 0:
            continue
        checked += 1
        doc = etree.fromstring(line[start:].rstrip(b"\r\n"))
        if not schema.validate(doc):
            invalid += 1
            print(f"line {number}: {schema.error_log.last_error}", file=sys.stderr)
            print(line[start:].decode("utf-8", "replace"), file=sys.stderr)
    print(f"{checked} messages, {invalid} invalid")
    if checked == 0:
        sys.exit(2)
    sys.exit(1 if invalid else 0)


if __name__ == "__main__":
    main()

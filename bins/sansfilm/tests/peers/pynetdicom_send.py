"""Send DICOM files to a C-STORE SCP with pynetdicom, as a real outside peer.

Usage: pynetdicom_send.py HOST PORT CALLED_AET FILE...
Prints one line per file: "<status hex> <path>" ("----" when not sent).
Each file is sent as it is stored (no decoding), in its own transfer syntax.
"""
import sys

from pydicom import dcmread
from pynetdicom import AE

host, port, called, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

ae = AE(ae_title="PYNETDICOM")


def context_of(path):
    """(SOP Class UID, transfer syntax) of a file, or None if pydicom cannot tell."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
        return (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
    except Exception as exc:
        print(f"pydicom cannot read {path}: {exc}", file=sys.stderr)
        return None


contexts = {path: context_of(path) for path in files}
for path, pair in contexts.items():
    if pair is None:
        print("peer-refused", path, flush=True)
pairs = []
for pair in contexts.values():
    if pair is not None and pair not in pairs:
        pairs.append(pair)

# At most 128 presentation contexts per association.
for start in range(0, len(pairs), 120):
    chunk = pairs[start : start + 120]
    ae.requested_contexts = []
    for sop_class, ts in chunk:
        ae.add_requested_context(sop_class, ts)
    assoc = ae.associate(host, port, ae_title=called)
    if not assoc.is_established:
        print("association failed", file=sys.stderr)
        sys.exit(2)
    for path in files:
        if contexts[path] not in chunk:
            continue
        try:
            status = assoc.send_c_store(path)
            code = f"{status.Status:04X}" if status and "Status" in status else "----"
        except Exception as exc:  # report and go on with the next file
            print(f"error sending {path}: {exc}", file=sys.stderr)
            code = "peer-refused"
        print(code, path, flush=True)
    assoc.release()

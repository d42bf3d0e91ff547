"""Query/Retrieve C-GET and C-MOVE with pynetdicom, as a real outside peer.

Usage: pynetdicom_retrieve.py HOST PORT CALLED_AET get|get-abort|move OUT_DIR [DEST_AET DEST_PORT] KEY=VALUE...
get: Study Root C-GET, instances received on the association (SCP role
for every storage class pynetdicom knows, uncompressed syntaxes).
get-abort: the same, but the association is aborted on the first instance.
move: Study Root C-MOVE to DEST_AET, served by a pynetdicom storage SCP on
DEST_PORT. Received instances are written to OUT_DIR as SOP_UID.dcm.
Prints "STATUS|<hex>" for the final response and "RECEIVED|<n>".
"""
import os
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

host, port, called, mode, out = sys.argv[1:6]
rest = sys.argv[6:]
if mode == "move":
    dest_aet, dest_port = rest[0], int(rest[1])
    rest = rest[2:]
os.makedirs(out, exist_ok=True)
received = []


def on_store(event):
    if mode == "get-abort":
        received.append("aborted")
        event.assoc.abort()
        return 0xA700
    ds = event.dataset
    ds.file_meta = event.file_meta
    ds.save_as(os.path.join(out, f"{ds.SOPInstanceUID}.dcm"), enforce_file_format=True)
    received.append(ds.SOPInstanceUID)
    return 0x0000


identifier = Dataset()
for key, value in (a.split("=", 1) for a in rest):
    setattr(identifier, key, value)

if mode in ("get", "get-abort"):
    ae = AE(ae_title="PYGET")
    if mode == "get-abort":
        # After its own abort, pynetdicom would wait for the C-GET's end.
        ae.dimse_timeout = 2
        ae.network_timeout = 2
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for cx in StoragePresentationContexts[:120]:
        ae.add_requested_context(cx.abstract_syntax)
        roles.append(build_role(cx.abstract_syntax, scp_role=True))
    assoc = ae.associate(host, int(port), ae_title=called, ext_neg=roles,
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    model = StudyRootQueryRetrieveInformationModelGet
    responses = assoc.send_c_get(identifier, model)
else:
    ae = AE(ae_title="PYMOVE")
    ae.supported_contexts = StoragePresentationContexts
    server = ae.start_server(("127.0.0.1", dest_port), block=False, ae_title=dest_aet,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate(host, int(port), ae_title=called)
    model = StudyRootQueryRetrieveInformationModelMove
    responses = assoc.send_c_move(identifier, dest_aet, model)

if not assoc.is_established:
    print("STATUS|association-failed")
    sys.exit(1)
last = None
for status, _ in responses:
    if status is not None and "Status" in status:
        last = status.Status
if assoc.is_established:
    assoc.release()
if mode == "move":
    server.shutdown()
print(f"STATUS|{last:04X}" if last is not None else "STATUS|none")
print(f"RECEIVED|{len(received)}")

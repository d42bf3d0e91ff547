"""Query/Retrieve C-FIND with pynetdicom, as a real outside peer.

Usage: pynetdicom_qr_find.py HOST PORT CALLED_AET MODEL LEVEL KEY=VALUE...
MODEL is "study" or "patient"; every KEY is returned, with VALUE as its
matching value ("" = universal). Prints "MATCH|<key>=<value>|..." per
answer (values as pydicom decodes them), then "STATUS|<hex>" and
"COUNT|<n>".
"""
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

host, port, called, model, level = sys.argv[1:6]
keys = [a.split("=", 1) for a in sys.argv[6:]]
sop = {
    "study": StudyRootQueryRetrieveInformationModelFind,
    "patient": PatientRootQueryRetrieveInformationModelFind,
}[model]

identifier = Dataset()
identifier.QueryRetrieveLevel = level
for key, value in keys:
    setattr(identifier, key, value)

ae = AE(ae_title="PYQR")
ae.add_requested_context(sop)
assoc = ae.associate(host, int(port), ae_title=called)
if not assoc.is_established:
    print("STATUS|association-failed")
    sys.exit(1)
count = 0
last = None
for status, answer in assoc.send_c_find(identifier, sop):
    if status is None:
        print("STATUS|none")
        break
    last = status.Status
    if status.Status in (0xFF00, 0xFF01) and answer is not None:
        count += 1
        fields = [f"{k}={answer.get(k, '')}" for k, _ in keys]
        print("MATCH|" + "|".join(fields))
assoc.release()
print(f"STATUS|{last:04X}")
print(f"COUNT|{count}")

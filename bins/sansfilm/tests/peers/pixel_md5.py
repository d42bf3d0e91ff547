"""Print the MD5 of each file's decoded pixels, as pydicom sees them.

Usage: pixel_md5.py FILE...  ->  one line per file: MD5 (or ERROR: reason)

pydicom decodes compressed pixel data with its plugins (pylibjpeg,
pylibjpeg-openjpeg, pyjpegls, its own RLE), an implementation independent
of sansfilm's.
"""

import hashlib
import sys

import pydicom


def main():
    for path in sys.argv[1:]:
        try:
            ds = pydicom.dcmread(path)
            arr = ds.pixel_array
            print(hashlib.md5(arr.astype(arr.dtype.newbyteorder("<")).tobytes()).hexdigest())
        except Exception as e:  # report, do not stop: the caller compares lines
            print(f"ERROR: {type(e).__name__}: {e}".replace("\n", " "))


if __name__ == "__main__":
    main()

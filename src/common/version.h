/* version.h — the one place CAI's version lives: the CLI's --version, the FITS catalog's CAIVER key, HDF5
 * and CSV provenance headers, calibration files, the man page, cai.pc and the Debian package all take it
 * from here (the Makefile reads CAI_VERSION_STRING). Owns: the version number. Must not touch: anything else. */
#ifndef CAI_VERSION_H
#define CAI_VERSION_H

#define CAI_VERSION_STRING "0.1.0"
#define CAI_VERSION CAI_VERSION_STRING

#endif

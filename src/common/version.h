/* version.h — CAI's version string, recorded in every output's provenance (FITS CAIVER, HDF5 and CSV
 * headers, calibration files). Owns: the number only. */
#ifndef CAI_VERSION_H
#define CAI_VERSION_H

#define CAI_VERSION "0.1.0"

#endif

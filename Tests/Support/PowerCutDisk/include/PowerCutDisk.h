// PowerCutDisk has no API: it is loaded into a process with LD_PRELOAD and
// FACELOOP_POWER_CUT_DIR=<dir>, and from then on emulates a disk that keeps only fsynced
// bytes for the SQLite files under <dir> (see PowerCutDisk.c). Used by PowerCutTests.

// FakeClock has no API: it is loaded into a process with LD_PRELOAD and
// FACELOOP_FAKE_CLOCK_FILE=<file>, and from then on the process's wall clock runs ahead by
// the number of seconds the file holds (see FakeClock.c). Used by FleetYearsTests.

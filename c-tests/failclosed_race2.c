/*
 * failclosed_race2.c - the second half of failclosed_race.c's races (write/writev against every action,
 * dup2 of another secure socket over the number), split off so that each program stays well inside the
 * runner's 60 s on a loaded machine. See failclosed_race.c.
 */
#define FAILCLOSED_RACE_PART2 1
#include "failclosed_race.c"

#pragma once

namespace tributary::op::app {

// Caps glibc malloc at 2 arenas (M_ARENA_MAX) unless MALLOC_ARENA_MAX is set.
// glibc's default, 8 per core, gives each thread that allocates (informers,
// workers, the lag thread, the Event writer, curl) an arena of its own that
// keeps its high-water mark: at 10 000 KafkaTopics and 1000 KafkaConsumerGroups
// that was ~55 MiB of RSS above ~50 MiB of live heap (bench/RESULTS.md). Two
// arenas cost no measurable time here: the operator's threads mostly wait on
// the network. Call first thing in main(), before any thread starts; a no-op
// outside glibc.
void limitMallocArenas();

}  // namespace tributary::op::app

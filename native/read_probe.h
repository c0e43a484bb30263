// Benchmark helper: reads a buffer once on the thread pool (see read_probe.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

namespace fa {

// Reads data[0..bytes) once, split in contiguous parts over the pool's
// threads; returns a checksum so the reads cannot be optimised away.
uint64_t read_probe(const uint8_t* data, size_t bytes);

}  // namespace fa

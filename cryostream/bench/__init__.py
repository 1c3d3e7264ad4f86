"""Tools beside the product: the picking benchmark, tuning, throughput and latency benchmarks, and
synthetic micrographs with known particles (tests, demo). The session and the core never import
this package."""

"""Throughput and latency benchmarks of one fhirbridge worker (see docs/benchmarks.md)."""

//! The peers' ranking methods, which the benchmark compares with DEMUD on the same features.

//! Plaintext secrets on disk: known credential formats and high-entropy assignments.

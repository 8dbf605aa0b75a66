"""Data Foundry: a Kubernetes operator for generating filtered, domain-matched LLM training data."""

__version__ = "0.1.0"

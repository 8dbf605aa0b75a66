"""Generation strategies: one module each, with its prompt templates and parser.

`registry.StrategyMix` mixes the job's strategies by weight, deterministically per position;
`inputs` loads seeds and document chunks; `shapes` defines record shapes and parsing.
"""

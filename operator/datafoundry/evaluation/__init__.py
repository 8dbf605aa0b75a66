"""The forgetting guard: how much a dataset teaches a model and how much it makes it forget."""

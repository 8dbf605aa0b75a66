"""Local mode, `datafoundry run FILE`: a DataFoundryJob on one machine, without Kubernetes.

`runner` runs the job's stages as local worker processes; `view` draws its progress.
"""

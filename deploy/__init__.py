"""Deployment files: Kubernetes manifests (kubernetes/) and their validator (validate.py)."""

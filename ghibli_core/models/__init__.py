"""Resolving and loading pipelines, ControlNet, LoRA and depth models."""

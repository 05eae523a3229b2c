"""Models stage: VGG16 backbone with torchvision-compatible names, the FASNet head, freeze policies,
checkpoint I/O and a registry (`create_model(name, **kw)`)."""

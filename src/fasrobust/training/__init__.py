"""Training stage: the paper's eight augmentation settings (batched, on the model's device), the
steps-based trainer, and evaluation of a checkpoint on a FaceSet."""

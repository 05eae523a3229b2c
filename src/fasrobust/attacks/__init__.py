"""Attack stage: black-box few-pixel attacks on any `Target`, batched over many images."""

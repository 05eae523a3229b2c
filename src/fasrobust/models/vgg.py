"""The VGG16 convolutional stack (13 conv layers with ReLU, 5 max-pools) laid out exactly like
torchvision's `vgg16().features`, so a state dict in the `vgg16-397923af.pth` layout loads as is:
conv layers sit at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 (`features.0.weight` ...
`features.28.bias`), ReLUs after each, max-pools at 4, 9, 16, 23, 30."""

from __future__ import annotations

from torch import nn

#: Output channels per conv layer, "M" for a 2x2 max-pool (configuration "D" of Simonyan & Zisserman).
VGG16_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                       512, 512, 512, "M", 512, 512, 512, "M")
VGG16_OUT_CHANNELS = 512
VGG16_POOLS = 5


def vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


def vgg16_parameter_shapes() -> dict[str, tuple[int, ...]]:
    """{'features.0.weight': (64, 3, 3, 3), ...}: the 26 tensors an ImageNet file must provide
    (worked out from the layout, without building the 14.7M-parameter stack)."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, channels = 0, 3
    for item in VGG16_LAYOUT:
        if item == "M":
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (int(item), channels, 3, 3)
        shapes[f"features.{index}.bias"] = (int(item),)
        index, channels = index + 2, int(item)  # conv + its ReLU
    return shapes


def vgg16_output_side(input_size: int) -> int:
    """Spatial side after the five 2x2 pools (floor division each time, as MaxPool2d does)."""
    side = input_size
    for _ in range(VGG16_POOLS):
        side //= 2
    return side

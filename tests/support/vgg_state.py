"""torchvision's VGG16 / VGG19 state_dict layouts written out by hand, and random weights in them."""

import torch

# torchvision's published vgg19 state_dict layout (vgg19-dcbb9e9d.pth), written out by hand:
# features index -> (out, in) of each 3x3 conv; pools sit at 4, 9, 18, 27, 36.
TV_VGG19_CONVS = [
    (0, 64, 3),
    (2, 64, 64),
    (5, 128, 64),
    (7, 128, 128),
    (10, 256, 128),
    (12, 256, 256),
    (14, 256, 256),
    (16, 256, 256),
    (19, 512, 256),
    (21, 512, 512),
    (23, 512, 512),
    (25, 512, 512),
    (28, 512, 512),
    (30, 512, 512),
    (32, 512, 512),
    (34, 512, 512),
]
TV_VGG16_CONVS = [
    (0, 64, 3),
    (2, 64, 64),
    (5, 128, 64),
    (7, 128, 128),
    (10, 256, 128),
    (12, 256, 256),
    (14, 256, 256),
    (17, 512, 256),
    (19, 512, 512),
    (21, 512, 512),
    (24, 512, 512),
    (26, 512, 512),
    (28, 512, 512),
]
TV_CLASSIFIER = {
    "classifier.0.weight": (4096, 25088),
    "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096),
    "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}


def torchvision_state(convs, with_classifier=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for idx, cout, cin in convs:
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.01
    if with_classifier:
        for k, shape in TV_CLASSIFIER.items():
            sd[k] = torch.empty(shape)  # values never read: only names and shapes matter here
    return sd

def finetune(smoke: bool = False) -> dict:
    """Fine-tune a pretrained keras-hub ViT, DeiT or DINOv2 with exits on your photos.

    Command:   mexit train --from deit_tiny_distilled_patch16_224_imagenet \\
                   --data folder:photos --out runs/photos
               (the default recipe whenever --from is given)
    Recipe:    phase 1, `head_epochs` with the backbone frozen: the exits and the
               fresh final head learn on the pretrained features first, so their
               early, large gradients do not wreck them. Phase 2, `epochs` with
               everything training at the lower `learning_rate`, decayed per block
               by `layer_decay` from the top (the stem moves least).
               Augmentation: random resized crop (`augment.crop`: zoom in by up to
               that share of the side, at a random place) and horizontal flip;
               switch them with --set augment.crop=0 / --set augment.flip=False.
               Turn both off for centred, frame-filling items like Fashion-MNIST's:
               there (500 training images, 6-block ViT at 28x28, pretrained start,
               5+15 epochs) crop 0.3 + flip gave final-exit test accuracy 0.67 against
               0.88 without. Epochs and rates come from the same runs (2+5 epochs at
               1e-4 reached 0.40); for large pretrained ViTs (DeiT-S/B) try --lr 1e-4.
    Defaults:  image size = the backbone's pretraining size (--image-size for
               another: position embeddings are resized); exits (mlp_ee, class
               token) after 1/4, 1/2 and 3/4 of the blocks unless --exits.
    Run time:  grows with the backbone and image size; not yet measured at DeiT-Ti
               224x224 (benchmarks/pretrained_finetune.py measures a small case).
    Expected:  depends on your data; the benchmark compares it with the same recipe
               from random init.
    Smoke:     `--smoke`: 64 training images, one epoch per phase, no XLA; about a
               minute on 2 CPU cores for a 3-block test model; its accuracy means nothing.
    """
    config = {
        "pretrained": None,  # set by --from: preset name, handle, preset folder or .keras
        "dataset": None,  # folder:PATH (required)
        "image_size": None,  # None: the backbone's pretraining size
        "color_mode": None,  # None: the backbone's (rgb for 3 channels)
        "exits": None,  # None: mlp_ee after 1/4, 1/2 and 3/4 of the blocks
        "regime": "finetune",
        "head_epochs": 5,
        "head_learning_rate": 1e-3,
        "epochs": 15,
        "learning_rate": 5e-4,
        "layer_decay": 0.75,
        "warmup_epochs": 0.5,
        "batch_size": 32,
        "weight_decay": 0.05,
        "label_smoothing": 0.1,
        "augment": {"crop": 0.2, "flip": True},
        "copycat_epochs": 0,
        "seed": 0,
        "jit_compile": "auto",
    }
    if smoke:
        config.update(head_epochs=1, epochs=1, batch_size=16, train_limit=64, eval_limit=32,
                      jit_compile=False)
    return config

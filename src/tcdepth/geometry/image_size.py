"""The image sizes a network accepts: the encoders downsample by 32, so the data pipeline, the models and the demo
check sizes against the same rule."""

NETWORK_MULTIPLE = 32


def check_network_size(height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``height`` and ``width`` are positive multiples of :data:`NETWORK_MULTIPLE`."""
    for name, value in (("height", height), ("width", width)):
        if value <= 0 or value % NETWORK_MULTIPLE:
            raise ValueError(f"{name} must be a positive multiple of {NETWORK_MULTIPLE} (network inputs are "
                             f"multiples of {NETWORK_MULTIPLE} on both axes: the encoder downsamples by "
                             f"{NETWORK_MULTIPLE}), got {value}")

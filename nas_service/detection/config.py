"""The detection proxy task's settings (pure pydantic; no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # the job spec holds detection settings, so this module must not import it at load time
    from nas_service.jobspec import ProxyConfig


class DetectionProxyConfig(BaseModel):
    """The short detection training run every candidate gets; its metric is mAP@[.5:.95] on the validation split.

    ``dataset``: ``shapes`` (synthetic shapes generated from ``seed``; ``num_classes``, ``train_images``,
    ``val_images``, ``max_objects``) or ``coco`` (images in ``data_path``, ``train_annotations`` and
    ``val_annotations`` instances JSON files; without ``val_annotations`` the last ``val_fraction`` of the
    training images is held out). ``resolution`` must be a multiple of ``2**max_level`` of the detector.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["shapes", "coco"] = "shapes"
    data_path: str | None = Field(None, max_length=1024)
    train_annotations: str | None = Field(None, max_length=1024)
    val_annotations: str | None = Field(None, max_length=1024)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    num_classes: int = Field(3, ge=1, le=6)
    train_images: int = Field(256, ge=1, le=1_000_000)
    val_images: int = Field(64, ge=1, le=1_000_000)
    max_objects: int = Field(3, ge=1, le=20)
    epochs: int = Field(3, ge=1, le=500)
    batch_size: int = Field(16, ge=2, le=1024)
    resolution: int = Field(128, ge=16, le=2048)
    optimizer: Literal["sgd", "rmsprop", "adamw"] = "adamw"
    lr: float = Field(2e-3, gt=0, le=10)
    weight_decay: float = Field(4e-5, ge=0, le=1)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    threads: int = Field(1, ge=1, le=256)

    @model_validator(mode="after")
    def _coco_paths(self) -> DetectionProxyConfig:
        if self.dataset == "coco":
            if not self.data_path:
                raise ValueError("data_path: the coco dataset needs the images directory")
            if not self.train_annotations:
                raise ValueError("train_annotations: the coco dataset needs an instances JSON file")
        return self

    def optimizer_config(self) -> ProxyConfig:
        """The optimiser settings in the classification proxy's form (one optimiser builder for both tasks)."""
        from nas_service.jobspec import ProxyConfig

        return ProxyConfig(
            optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay, epochs=self.epochs, seed=self.seed
        )

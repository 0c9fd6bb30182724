"""The detection proxy task: data (synthetic shapes, COCO format), anchors, box coding, losses, NMS and mAP.

Importing this package does not import torch; the submodules that need it import it themselves:

* :mod:`~nas_service.detection.config`: :class:`DetectionProxyConfig` (pure pydantic);
* :mod:`~nas_service.detection.data`: the synthetic shapes dataset and the COCO-format loader;
* :mod:`~nas_service.detection.boxes`: IoU, box coding and batched NMS;
* :mod:`~nas_service.detection.anchors`: anchor grids and anchor-to-object matching;
* :mod:`~nas_service.detection.loss`: focal loss and the Huber box loss;
* :mod:`~nas_service.detection.inference`: head outputs to detections;
* :mod:`~nas_service.detection.metrics`: mAP@[.5:.95] and mAP@.5 with pycocotools' evaluator;
* :mod:`~nas_service.detection.space`: the detection search space (a backbone space plus BiFPN/head choices).

The training loop and the trial attempt are the Ray-side shells in :mod:`workers.detection_train` and
:mod:`workers.detection_trial`.
"""

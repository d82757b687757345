"""int8 for the OpenVINO engine, as optimum-intel splits it: the settings
(``config``), the calibration set built from the job's images
(``calibration``) and the quantizer with its cache (``quantizer``)."""

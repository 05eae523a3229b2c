"""Data stage: database on disk -> FaceSet (balanced, uint8 RGB face crops with their metadata).

Readers (one module per database in `readers/`) turn a database root into `Recording`s; frame
sampling, face detection and cropping turn recordings into crops; `faceset` stores them."""

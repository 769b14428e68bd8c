-- Temporal keeps its own data in two databases beside Kripto's.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;

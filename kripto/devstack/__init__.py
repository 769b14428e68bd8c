"""The embedded development stack behind `kripto dev`: Postgres and Temporal as child
processes under one data folder."""

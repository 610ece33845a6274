"""The pipeline of template.yaml run on this machine: moto as AWS, the Dataflow emulator as the
provider, the real Lambda handlers invoked in-process (``local_pipeline.stack``). Never deployed."""

"""drmodel.testing: what drmodel's tests, its demo and its benchmark run on, kept apart from the product.

- `localserver`: embedded S3 servers on loopback (SeaweedFS with one identity per simulated account; moto).
- `synth`: realistic synthetic DeepRacer models in every layout (legacy console bucket, DRfC prefix, folders).
- `droa_standin`: a local stand-in for a DeepRacer on AWS deployment (its web config, Cognito, API and buckets).
- `demo`: `drmodel demo`, run on the above.

No product module imports this package (tests/test_packaging.py checks it); the one exception is the `demo`
command, which runs here. Its extras: `drmodel[demo]` (SeaweedFS), `drmodel[droa-standin]` (moto's server).
"""

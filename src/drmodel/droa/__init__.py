"""DeepRacer on AWS (DRoA): deployments described in drmodel's config file, reached through Cognito and SigV4."""

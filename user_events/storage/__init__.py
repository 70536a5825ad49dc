"""Storage foundations shared by the domains: the S3 lake layout, its watermark, the S3 client resource."""

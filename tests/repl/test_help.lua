H=require"harness" H.finish()

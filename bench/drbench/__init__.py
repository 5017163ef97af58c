"""bench/run.py's parts (the benchmark of issue 7), one module per concern:

world      constants, the model's sizes, one scenario's accounts, server and folders (Bench)
steps      one command run and measured by probes/measure.py
tools      the tools' command lines (drmodel, rclone, aws-cli, s5cmd, the ls baseline)
checks     what the target must hold after every run
scenarios  each scenario's preparation and tools
rounds     the interleaved rounds of one scenario and their summary
report     the targets of issues 7 and 20, the tables and the machine's description
shaper     the line-shaping TCP proxy of --link (also a script: --selfcheck, manual use)

The programs that run as processes of their own (the measuring process, the ls tracer and its boto3 baseline,
breakdown.py's milestones wrapper, floor.py's start-up probe) are plain scripts in bench/probes/.
"""

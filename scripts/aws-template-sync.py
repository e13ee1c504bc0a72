#!/usr/bin/env python3
"""Embed deploy/aws/statemachine.asl.json verbatim into deploy/aws/template.yaml's DefinitionString.

    scripts/aws-template-sync.py          rewrite the template
    scripts/aws-template-sync.py --check  exit 1 if the template's copy differs from the file
The ASL file is the one to edit; the template carries a copy because moto's CloudFormation reads only an
inline DefinitionString (not DefinitionS3Location or Definition)."""
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "aws")
tpl_path, asl_path = os.path.join(root, "template.yaml"), os.path.join(root, "statemachine.asl.json")
START, END, INDENT = "      DefinitionString: !Sub\n        - |\n", "        - InitializeFunctionArn:", "          "

tpl = open(tpl_path).read()
asl = open(asl_path).read()
i = tpl.find(START)
j = tpl.find(END, i)
if i < 0 or j < 0:
    sys.exit("aws-template-sync: DefinitionString block not found in " + tpl_path)
i += len(START)
embedded = "".join(l[len(INDENT):] if l.startswith(INDENT) else l for l in tpl[i:j].splitlines(True))
if "--check" in sys.argv[1:]:
    if embedded != asl:
        sys.exit("aws-template-sync: template.yaml's DefinitionString differs from statemachine.asl.json "
                 "(run scripts/aws-template-sync.py)")
    print("aws-template-sync: template.yaml embeds statemachine.asl.json verbatim")
    sys.exit(0)
new = tpl[:i] + "".join(INDENT + l if l.strip() else l for l in asl.splitlines(True)) + tpl[j:]
open(tpl_path, "w").write(new)

"""Parses kiln's model diagram as XML and checks its boxes and arrows against the graph.

Usage: svg_check.py DIAGRAM.svg EXPECTED.json
EXPECTED: {"names": [box names], "edges": [[from name, to name], ...]}
"""
import json
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def main():
    path, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    root = ET.parse(path).getroot()  # raises on anything that is not well-formed XML
    problems = []
    boxes = {}
    for group in root.iter(SVG + "g"):
        if group.get("class") != "layer":
            continue
        rect = group.find(SVG + "rect")
        name = next(t.text for t in group.findall(SVG + "text") if t.get("class") == "name")
        name = name.rsplit(" (", 1)[0]
        if name in boxes:
            problems.append(f"{name} has two boxes")
        x, y = float(rect.get("x")), float(rect.get("y"))
        w, h = float(rect.get("width")), float(rect.get("height"))
        boxes[name] = ((x + w / 2, y + h), (x + w / 2, y))  # bottom centre, top centre
    if sorted(boxes) != sorted(expected["names"]):
        problems.append(f"boxes {sorted(boxes)}, expected {sorted(expected['names'])}")

    def box_at(point, which):
        for name, ends in boxes.items():
            if abs(ends[which][0] - point[0]) < 0.2 and abs(ends[which][1] - point[1]) < 0.2:
                return name
        return None

    edges = []
    for line in root.iter(SVG + "polyline"):
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        edges.append([box_at(points[0], 0), box_at(points[-1], 1)])
    if sorted(edges, key=str) != sorted(expected["edges"], key=str):
        problems.append(f"edges {edges}, expected {expected['edges']}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"svg ok: {len(boxes)} boxes, {len(edges)} edges")


if __name__ == "__main__":
    main()

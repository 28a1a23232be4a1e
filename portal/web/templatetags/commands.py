"""Template tags for the client commands of portal.web.commands, for snippets a template draws itself.

Each reads the request from the template context (the request context processor), so a snippet is written
for how the page was reached without every view passing it along.
"""

from __future__ import annotations

from typing import Any

from django import template

from portal.web import commands

register = template.Library()


@register.simple_tag(takes_context=True)
def login_command(context: dict[str, Any], username: str = "", secret: str = "") -> str:
    return commands.login_command(context["request"], username, secret)


@register.simple_tag(takes_context=True)
def push_command(context: dict[str, Any], full_name: str, tag: str = "TAG", image: str = "IMAGE") -> str:
    return commands.push_command(context["request"], full_name, tag, image)


@register.simple_tag(takes_context=True)
def pull_command(context: dict[str, Any], full_name: str, tag: str = "", digest: str = "") -> str:
    return commands.pull_command(context["request"], full_name, tag, digest)


@register.simple_tag(takes_context=True)
def docker_note(context: dict[str, Any]) -> str:
    return commands.docker_note(context["request"])

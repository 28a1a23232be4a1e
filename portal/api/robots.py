"""Robot accounts of a user or an organization: /api/v1/namespaces/{namespace}/robots/…

Only the namespace's owner (a user's own namespace) or its organization admins see and manage them. A
robot's token is returned when it is created or regenerated and never again.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.accounts import services as accounts
from portal.accounts.models import Namespace, Robot
from portal.api import serializers as s
from portal.api.base import ApiView, validated
from portal.api.permissions import namespace_named, require_namespace_admin
from portal.client_address import client_ip
from portal.errors import NotFound

TAGS = ["robot accounts"]


def _robot(namespace: Namespace, name: str) -> Robot:
    """`name` may be the short name or the whole `namespace+name`."""
    short = name.split("+", 1)[1] if name.startswith(f"{namespace.name}+") else name
    robot = Robot.objects.select_related("namespace").filter(namespace=namespace, name=short).first()
    if robot is None:
        raise NotFound(f"'{namespace.name}' has no robot named '{name}'.")
    return robot


class RobotList(ApiView):
    @extend_schema(tags=TAGS, responses=s.RobotSerializer(many=True))
    def get(self, request: Request, namespace: str) -> Response:
        ns = namespace_named(namespace)
        require_namespace_admin(request, ns, f"see the robot accounts of '{ns.name}'")
        robots = Robot.objects.filter(namespace=ns).select_related("namespace").order_by("name")
        return self.paginated(robots, s.RobotSerializer)

    @extend_schema(tags=TAGS, request=s.RobotCreateSerializer, responses={201: s.RobotCreatedSerializer})
    def post(self, request: Request, namespace: str) -> Response:
        """Create `namespace+name`; the response carries its token, which is not shown again."""
        ns = namespace_named(namespace)
        principal = require_namespace_admin(request, ns, f"create robot accounts in '{ns.name}'")
        data = validated(s.RobotCreateSerializer, request)
        robot, token = accounts.create_robot(principal, ns, data["name"], data["description"],
                                             client_ip=client_ip(request))
        body = {**s.RobotSerializer(robot).data, "token": token}
        return Response(body, status=status.HTTP_201_CREATED)


class RobotDetail(ApiView):
    @extend_schema(tags=TAGS, responses=s.RobotDetailSerializer)
    def get(self, request: Request, namespace: str, robot: str) -> Response:
        """The robot with the repository permissions it holds."""
        ns = namespace_named(namespace)
        require_namespace_admin(request, ns, f"see the robot accounts of '{ns.name}'")
        return Response(s.RobotDetailSerializer(_robot(ns, robot)).data)

    @extend_schema(tags=TAGS, responses={204: OpenApiResponse(description="Deleted; its token stops working.")})
    def delete(self, request: Request, namespace: str, robot: str) -> Response:
        ns = namespace_named(namespace)
        principal = require_namespace_admin(request, ns, f"delete robot accounts of '{ns.name}'")
        accounts.delete_robot(principal, _robot(ns, robot), client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RobotRegenerate(ApiView):
    @extend_schema(tags=TAGS, request=None, responses=s.RobotTokenSerializer)
    def post(self, request: Request, namespace: str, robot: str) -> Response:
        """A new token for the robot; the old one stops working at once."""
        ns = namespace_named(namespace)
        principal = require_namespace_admin(request, ns, f"regenerate robot tokens of '{ns.name}'")
        row = _robot(ns, robot)
        token = accounts.regenerate_robot_token(principal, row, client_ip=client_ip(request))
        return Response({"name": row.full_name, "token": token})

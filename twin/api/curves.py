"""Computed prices and forward curves over the API.

* ``GET forward-curves/?node=<id>[&months=12][&run=RUN][&start_month=YYYY-MM]``: a node's hourly
  forward curve computed from its current price history (:func:`twin.services.forward.forward_curve`,
  the same function ``build_forward_curve`` stores as run ``forward``). Any signed-in user.
* ``POST computed-prices/`` ``{"market", "network"?, "intervals"?, "start"?, "scenario"?, "ac"?}``:
  checks the input, then queues the ``twin.compute_lmps`` job and answers ``202`` with it.
  Operators only.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from twin.api.serializers import JobSerializer
from twin.jobs import JobParameterError, submit_job
from twin.models import Job, MarketRun, NodalPrice, PricingNode
from twin.services import forward, opf


def _bad(message: str) -> Response:
    return Response({"message": message}, status=status.HTTP_400_BAD_REQUEST)


class ForwardCurveView(APIView):
    """The forward curve of one pricing node: month × hour-of-day shape scaled to monthly levels,
    with carbon beside price — a planning curve, not a traded one."""

    queryset = NodalPrice.objects.none()  # reads: any signed-in user

    @extend_schema(
        parameters=[
            OpenApiParameter("node", int, required=True, description="pricing node id"),
            OpenApiParameter("months", int, description=f"1–{forward.MAX_MONTHS}, default 12"),
            OpenApiParameter("run", str, enum=[MarketRun.DAY_AHEAD, MarketRun.REAL_TIME,
                                               MarketRun.COMPUTED],
                             description="history to use (default: day-ahead, else real-time, "
                                         "else computed)"),
            OpenApiParameter("start_month", str, description="first month YYYY-MM "
                                                             "(default: after the history)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = request.query_params
        node_id = params.get("node", "")
        if not node_id.isdigit():
            return _bad("node: give a pricing node id (a whole number)")
        node = PricingNode.objects.select_related("market").filter(pk=int(node_id)).first()
        if node is None:
            return _bad(f"node: no pricing node with id {node_id}")
        months = params.get("months", "12")
        if not months.isdigit():
            return _bad(f"months: {months!r} is not a whole number")
        try:
            curve = forward.forward_curve(node, months=int(months), run=params.get("run") or None,
                                          start_month=params.get("start_month") or None)
        except forward.ForwardError as exc:
            return _bad(str(exc))
        return Response(curve)


class ComputedPricesSerializer(serializers.Serializer):
    market = serializers.CharField(required=False, max_length=100,
                                   help_text="market whose nodes sit at the twin's buses")
    network = serializers.CharField(required=False, max_length=500,
                                    help_text="pandapower.networks name or a JSON file in the "
                                              "import folder; imported when the market is absent")
    intervals = serializers.IntegerField(required=False, default=96, min_value=1,
                                         max_value=opf.MAX_INTERVALS)
    start = serializers.DateTimeField(required=False, help_text="first interval (ISO 8601)")
    scenario = serializers.JSONField(required=False, default=dict)
    ac = serializers.BooleanField(required=False, default=False)

    def validate_scenario(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        try:
            opf.scenario_options(value)
        except opf.OpfError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate(self, data):
        if not data.get("market") and not data.get("network"):
            raise serializers.ValidationError("give a market, or a network to import")
        return data


class ComputedPricesView(APIView):
    """Queue a computation of LMPs from the twin's network (``twin.compute_lmps``)."""

    queryset = Job.objects.none()  # operators only: needs twin.add_job
    serializer_class = ComputedPricesSerializer

    @extend_schema(request=ComputedPricesSerializer, responses={202: JobSerializer})
    def post(self, request):
        form = ComputedPricesSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        parameters = {"intervals": data["intervals"], "scenario": data["scenario"], "ac": data["ac"]}
        if data.get("start"):
            parameters["start"] = data["start"].isoformat()
        try:
            if data.get("network"):
                parameters["network"] = opf.job_network(data["network"])
            elif not PricingNode.objects.filter(market__name=data["market"]).exists():
                opf.resolve_market(data["market"])
                return _bad(f"market {data['market']!r} has no pricing nodes; give a network "
                            "to import")
            if data.get("market"):
                parameters["market"] = data["market"]
            job = submit_job("twin.compute_lmps", parameters, user=request.user)
        except JobParameterError as exc:
            return _bad(str(exc))
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

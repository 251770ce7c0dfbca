import {
    Component,
    onMounted,
    onPatched,
    onWillStart,
    onWillUnmount,
    toRaw,
    useRef,
    useState,
} from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

const PERIODS = [
    { code: "today", label: _t("Today") },
    { code: "7d", label: _t("7 days") },
    { code: "30d", label: _t("30 days") },
    { code: "custom", label: _t("Custom") },
];
// Filter name of the RPC -> the option list of the answer that feeds its select.
const FILTERS = [
    { name: "warehouse", options: "warehouses", label: _t("All warehouses") },
    { name: "carrier", options: "carriers", label: _t("All carriers") },
    { name: "channel", options: "channels", label: _t("All channels") },
    { name: "backend", options: "backends", label: _t("All backends") },
    { name: "company", options: "companies", label: _t("All my companies") },
];
const COLORS = ["#017e84", "#e99d00", "#d23f3a", "#714b67", "#3c8dbc", "#6c757d"];

/** "3m 12s", "2h 05m", "1d 4h" for a number of seconds. */
export function formatSeconds(seconds) {
    const value = Math.round(Math.abs(seconds));
    const sign = seconds < 0 ? "-" : "";
    if (value < 60) {
        return `${sign}${value}s`;
    }
    if (value < 3600) {
        return `${sign}${Math.floor(value / 60)}m ${String(value % 60).padStart(2, "0")}s`;
    }
    if (value < 86400) {
        const minutes = Math.floor((value % 3600) / 60);
        return `${sign}${Math.floor(value / 3600)}h ${String(minutes).padStart(2, "0")}m`;
    }
    return `${sign}${Math.floor(value / 86400)}d ${Math.floor((value % 86400) / 3600)}h`;
}

/**
 * Logistics > Dashboard, the app's home: tiles (the state now, each opening the list behind
 * it), queues, and charts over a period (Chart.js from Odoo's bundle). All the numbers come
 * from one RPC method, ``logistics.dashboard.get_dashboard(period, filters)``.
 */
export class LogisticsDashboard extends Component {
    static template = "logistics_monitoring.Dashboard";
    static props = { "*": true };

    setup() {
        this.orm = useService("orm");
        this.actionService = useService("action");
        this.periods = PERIODS;
        this.filterSpecs = FILTERS;
        this.state = useState({
            period: "30d",
            dateFrom: "",
            dateTo: "",
            filters: Object.fromEntries(FILTERS.map((spec) => [spec.name, ""])),
            data: null,
            loading: false,
            error: "",
        });
        this.canvases = {
            latency: useRef("latency"),
            latencyBackend: useRef("latencyBackend"),
            breachCarrier: useRef("breachCarrier"),
            breachWarehouse: useRef("breachWarehouse"),
            breachChannel: useRef("breachChannel"),
            trend: useRef("trend"),
            success: useRef("success"),
            completeness: useRef("completeness"),
        };
        this.charts = [];
        this.drawn = null;
        onWillStart(async () => {
            await loadBundle("web.chartjs_lib");
            await this.load();
        });
        onMounted(() => this.drawCharts());
        onPatched(() => this.drawCharts());
        onWillUnmount(() => this.destroyCharts());
    }

    get periodArgument() {
        if (this.state.period === "custom") {
            return { date_from: this.state.dateFrom, date_to: this.state.dateTo };
        }
        return this.state.period;
    }

    get filtersArgument() {
        const filters = {};
        for (const [name, value] of Object.entries(this.state.filters)) {
            if (value) {
                filters[name] = parseInt(value);
            }
        }
        return filters;
    }

    async load() {
        if (this.state.period === "custom" && !(this.state.dateFrom && this.state.dateTo)) {
            return;
        }
        this.state.loading = true;
        this.state.error = "";
        try {
            this.state.data = await this.orm.call("logistics.dashboard", "get_dashboard", [
                this.periodArgument,
                this.filtersArgument,
            ]);
        } catch (error) {
            this.state.error = error.data?.message || error.message || String(error);
        } finally {
            this.state.loading = false;
        }
    }

    setPeriod(code) {
        this.state.period = code;
        if (code !== "custom") {
            this.load();
        }
    }

    setFilter(name, value) {
        this.state.filters[name] = value;
        this.load();
    }

    openAction(action) {
        if (!action?.res_model) {
            return;
        }
        this.actionService.doAction({
            type: "ir.actions.act_window",
            name: action.name,
            res_model: action.res_model,
            domain: action.domain,
            views: [
                [false, "list"],
                [false, "form"],
            ],
            target: "current",
        });
    }

    formatSeconds(seconds) {
        return formatSeconds(seconds);
    }

    sum(values) {
        return values.reduce((total, value) => total + value, 0);
    }

    // --- charts ---------------------------------------------------------------------------------
    destroyCharts() {
        for (const chart of this.charts) {
            chart.destroy();
        }
        this.charts = [];
    }

    drawCharts() {
        const data = this.state.data;
        if (!data || this.drawn === data || !window.Chart) {
            return;
        }
        this.drawn = data;
        this.destroyCharts();
        // Chart.js keeps and patches the arrays it is given: give it the plain data, not the
        // component's reactive state.
        const charts = toRaw(data).charts;
        this.latencyChart("latency", charts.handoff_latency);
        this.latencyChart("latencyBackend", charts.handoff_latency_by_backend);
        this.ratioChart("breachCarrier", charts.breach_rate.carrier, _t("Breach rate"), 2);
        this.ratioChart("breachWarehouse", charts.breach_rate.warehouse, _t("Breach rate"), 2);
        this.ratioChart("breachChannel", charts.breach_rate.channel, _t("Breach rate"), 2);
        this.ratioChart("success", charts.success_rate, _t("Success rate"), 0);
        this.ratioChart("completeness", charts.completeness, _t("Complete"), 4);
        this.trendChart("trend", charts.trend);
    }

    newChart(name, config) {
        const canvas = this.canvases[name].el;
        if (canvas) {
            this.charts.push(new window.Chart(canvas, config));
        }
    }

    latencyChart(name, chart) {
        this.newChart(name, {
            type: "bar",
            data: {
                labels: chart.labels,
                datasets: ["p50", "p95", "p99"].map((key, index) => ({
                    label: key,
                    data: chart[key],
                    backgroundColor: COLORS[index],
                })),
            },
            options: {
                indexAxis: "y",
                maintainAspectRatio: false,
                animation: false,
                scales: {
                    x: { ticks: { callback: (value) => formatSeconds(value) } },
                    y: { ticks: { autoSkip: false } },
                },
                plugins: {
                    tooltip: {
                        callbacks: {
                            label: (item) => `${item.dataset.label}: ${formatSeconds(item.raw)}`,
                        },
                    },
                },
            },
        });
    }

    ratioChart(name, series, label, color) {
        this.newChart(name, {
            type: "bar",
            data: {
                labels: series.labels,
                datasets: [
                    {
                        label,
                        data: series.values.map((value) => Math.round(value * 1000) / 10),
                        backgroundColor: COLORS[color],
                    },
                ],
            },
            options: {
                maintainAspectRatio: false,
                animation: false,
                scales: { y: { min: 0, max: 100, ticks: { callback: (value) => `${value} %` } } },
                plugins: { legend: { display: false } },
            },
        });
    }

    trendChart(name, trend) {
        this.newChart(name, {
            type: "line",
            data: {
                labels: trend.labels.map((hour) => hour.slice(5, 13).replace("T", " ") + "h"),
                datasets: [
                    {
                        label: _t("Events"),
                        data: trend.events,
                        borderColor: COLORS[0],
                        backgroundColor: COLORS[0],
                        pointRadius: 0,
                        yAxisID: "y",
                    },
                    {
                        label: _t("Exceptions"),
                        data: trend.exceptions,
                        borderColor: COLORS[2],
                        backgroundColor: COLORS[2],
                        pointRadius: 0,
                        yAxisID: "y1",
                    },
                ],
            },
            options: {
                maintainAspectRatio: false,
                animation: false,
                scales: {
                    y: { beginAtZero: true, position: "left" },
                    y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } },
                },
            },
        });
    }
}

registry.category("actions").add("logistics_dashboard", LogisticsDashboard);

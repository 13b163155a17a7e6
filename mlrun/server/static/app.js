/* mlrun UI: draws metric charts (uPlot) from the page's #chart-data and keeps the compare button honest. */
(function () {
  "use strict";
  // the same eight colours as the .swatch-N classes in app.css
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
  // 1, 2, 5, 10, 20, 50, ... up to 5e15: tick spacings for an axis of whole numbers
  var INTEGER_INCRS = [];
  for (var mag = 1; mag <= 1e15; mag *= 10) INTEGER_INCRS.push(mag, 2 * mag, 5 * mag);

  function drawCharts() {
    var source = document.getElementById("chart-data");
    if (!source || typeof uPlot === "undefined") return;
    var charts = JSON.parse(source.textContent);
    var plots = [];
    charts.forEach(function (chart, index) {
      var box = document.querySelector('[data-chart="' + index + '"]');
      if (!box) return;
      var series = chart.series;
      var data = series.length === 1
        ? [series[0].x, series[0].y]
        : uPlot.join(series.map(function (s) { return [s.x, s.y]; }));
      var isTime = series.every(function (s) { return s.time; });
      var fewPoints = series.every(function (s) { return s.x.length <= 60; });
      var opts = {
        width: box.clientWidth || 600,
        height: 240,
        scales: { x: { time: isTime } },
        legend: { show: true },
        cursor: { drag: { x: true, y: false } },
        series: [{ label: isTime ? "time" : "step" }].concat(series.map(function (s, i) {
          var color = COLORS[(s.color === undefined ? i : s.color) % COLORS.length];
          return { label: s.label, stroke: color, width: 2, spanGaps: true, points: { show: fewPoints } };
        })),
        axes: [{ stroke: "#6b7280", grid: { stroke: "#eef0f3" } }, { stroke: "#6b7280", grid: { stroke: "#eef0f3" } }],
      };
      if (!isTime && series.every(function (s) { return s.integer; })) {
        // steps are whole numbers: ticks only at whole steps; the labels drawn are kept on the box (data-x-ticks)
        opts.axes[0].incrs = INTEGER_INCRS;
        opts.axes[0].values = function (u, splits) {
          var labels = splits.map(function (v) { return String(v); });
          box.setAttribute("data-x-ticks", labels.join(","));
          return labels;
        };
      }
      plots.push({ plot: new uPlot(opts, data, box), box: box });
    });
    var pending;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        plots.forEach(function (p) { p.plot.setSize({ width: p.box.clientWidth, height: 240 }); });
      }, 100);
    });
  }

  function compareButton() {
    var form = document.getElementById("compare-form");
    var button = document.getElementById("compare-button");
    if (!form || !button) return;
    function update() {
      var picked = form.querySelectorAll('input[name="uid"]:checked').length;
      button.disabled = picked < 2;
      button.textContent = picked >= 2 ? "Compare " + picked + " runs" : "Compare selected";
    }
    form.addEventListener("change", update);
    update();
  }

  function sweepPickers() {
    // a new pick redraws the scatter (the page is drawn on the server)
    var form = document.getElementById("sweep-pickers");
    if (form) form.addEventListener("change", function () { form.submit(); });
  }

  function filterFields() {
    // the datalist completes the word being typed: its options become the text so far followed by each field
    // that starts with that word (a browser matches options against the whole value of the box)
    var box = document.getElementById("filter-box");
    var list = document.getElementById("filter-fields");
    if (!box || !list) return;
    var fields = Array.prototype.map.call(list.options, function (o) { return o.value; });
    function update() {
      var text = box.value;
      var start = Math.max(text.lastIndexOf(" "), text.lastIndexOf("(")) + 1;
      var before = text.slice(0, start), word = text.slice(start);
      var options = fields.filter(function (f) { return f.indexOf(word) === 0 && f !== word; });
      list.replaceChildren.apply(list, options.map(function (f) {
        var option = document.createElement("option");
        option.value = before + f;
        return option;
      }));
    }
    box.addEventListener("input", update);
  }

  drawCharts();
  compareButton();
  sweepPickers();
  filterFields();
})();

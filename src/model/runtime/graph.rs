//! Reading a model's ONNX graph and checking it against its manifest: one image input named
//! as the manifest says, the outputs the decoder reads (in role order), no layer with an empty
//! feature map, and the parameter count when the manifest does not give it.

use super::{model_err, root_cause};
use crate::model::manifest::Manifest;
use crate::Result;
use tract_onnx::prelude::*;

/// Parse `onnx` (the bytes of the model file) into an inference graph.
pub(super) fn read_onnx(manifest: &Manifest, onnx: &[u8]) -> Result<InferenceModel> {
    let unreadable = |why: String| {
        model_err(
            manifest,
            format!("the file is not a readable ONNX model ({why}); re-export or re-download it"),
        )
    };
    let framework = tract_onnx::onnx();
    let mut reader = onnx;
    let proto = framework
        .proto_model_for_read(&mut reader)
        .map_err(|e| unreadable(root_cause(&e)))?;
    // tract indexes outputs by name and panics on a name nothing produces (found by the
    // onnx_load fuzz target): refuse such a graph here, with its name.
    if let Some(graph) = &proto.graph {
        let produced: std::collections::HashSet<&str> = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .chain(graph.initializer.iter().map(|t| t.name.as_str()))
            .chain(
                graph
                    .node
                    .iter()
                    .flat_map(|n| n.output.iter().map(String::as_str)),
            )
            .collect();
        if let Some(missing) = graph
            .output
            .iter()
            .find(|o| !produced.contains(o.name.as_str()))
        {
            return Err(unreadable(format!(
                "graph output \"{}\" is not produced by any node",
                missing.name
            )));
        }
        if let Some(why) = graph.node.iter().find_map(window_attributes_mismatch) {
            return Err(unreadable(why));
        }
        if let Some(why) = window_rank_mismatch_on_inputs(graph) {
            return Err(unreadable(why));
        }
        if let Some(why) = raw_tensor_of_unsupported_type(graph) {
            return Err(unreadable(why));
        }
    }
    framework
        .model_for_proto_model(&proto)
        .map_err(|e| unreadable(root_cause(&e)))
}

/// The ONNX operators with a sliding window (kernel_shape, strides, dilations, pads).
const WINDOWED: [&str; 7] = [
    "Conv",
    "ConvTranspose",
    "ConvInteger",
    "QLinearConv",
    "MaxPool",
    "AveragePool",
    "LpPool",
];

/// Why a convolution's or pooling's window attributes are unusable, if they are: one stride
/// and one dilation per spatial axis, two pads per axis, kernel sides, strides and dilations
/// of at least 1, pads of at least 0. tract-core 0.23.9 indexes them by axis and computes
/// `kernel - 1` while inferring shapes, and panics otherwise (an AveragePool with a 3×3 kernel
/// and one stride, another with kernel_shape [3, 0]: found by the onnx_load fuzz target).
fn window_attributes_mismatch(node: &tract_onnx::pb::NodeProto) -> Option<String> {
    if !WINDOWED.contains(&node.op_type.as_str()) {
        return None;
    }
    let ints = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.len())
    };
    let axes = ints("kernel_shape")
        .or(ints("strides"))
        .or(ints("dilations"))
        .or(ints("pads").map(|n| n / 2))?;
    let expected = [
        ("strides", axes),
        ("dilations", axes),
        ("pads", 2 * axes),
        ("output_padding", axes),
    ];
    let lengths = expected.iter().find_map(|&(name, want)| {
        let got = ints(name)?;
        (got != want).then(|| {
            format!(
                "{} node \"{}\" has {got} {name} for {axes} spatial axes",
                node.op_type, node.name
            )
        })
    });
    // Values tract subtracts from or divides by: kernel sides, strides and dilations of 0
    // (tract computes `kernel - 1`), negative pads.
    let values = [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("pads", 0),
    ]
    .iter()
    .find_map(|&(name, min)| {
        let a = node.attribute.iter().find(|a| a.name == name)?;
        a.ints.iter().any(|&v| v < min).then(|| {
            format!(
                "{} node \"{}\" has {name} {:?} (each must be at least {min})",
                node.op_type, node.name, a.ints
            )
        })
    });
    lengths.or(values)
}

/// A windowed node reading a graph input directly whose window has a different number of
/// axes than that input has spatial axes (rank − 2): tract-core indexes the window per input
/// axis and panics (found by the onnx_load fuzz target). Only graph inputs have a rank here,
/// before shape inference; nodes deeper in the graph are not checked.
fn window_rank_mismatch_on_inputs(graph: &tract_onnx::pb::GraphProto) -> Option<String> {
    let rank = |name: &str| -> Option<usize> {
        let input = graph.input.iter().find(|i| i.name == name)?;
        let tract_onnx::pb::type_proto::Value::TensorType(t) =
            input.r#type.as_ref()?.value.as_ref()?;
        Some(t.shape.as_ref()?.dim.len())
    };
    graph.node.iter().find_map(|node| {
        if !WINDOWED.contains(&node.op_type.as_str()) {
            return None;
        }
        let spatial = rank(node.input.first()?)?.checked_sub(2)?;
        let window = node
            .attribute
            .iter()
            .find(|a| a.name == "kernel_shape")?
            .ints
            .len();
        (window != spatial).then(|| {
            format!(
                "{} node \"{}\" has a {window}-axis kernel_shape on an input with {spatial} spatial axes",
                node.op_type, node.name
            )
        })
    })
}

/// A tensor stored as raw bytes (or in an external file) whose data type tract cannot read
/// that way (strings, complex numbers, bfloat16, 8-bit floats): tract-onnx 0.23.9 reaches an
/// `unimplemented!` on them (found by the onnx_load fuzz target). Looks through initializers
/// and node attributes, subgraphs included.
fn raw_tensor_of_unsupported_type(graph: &tract_onnx::pb::GraphProto) -> Option<String> {
    use tract_onnx::pb::TensorProto;
    // FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, BOOL, FLOAT16, DOUBLE, UINT32, UINT64.
    const RAW_READABLE: [i32; 12] = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13];
    const EXTERNAL: i32 = 1;
    let bad = |t: &TensorProto| {
        let raw = !t.raw_data.is_empty() || t.data_location == Some(EXTERNAL);
        (raw && !RAW_READABLE.contains(&t.data_type)).then(|| {
            format!(
                "tensor \"{}\" holds raw data of ONNX data type {}, which cannot be read",
                t.name, t.data_type
            )
        })
    };
    graph.initializer.iter().find_map(bad).or_else(|| {
        graph.node.iter().find_map(|n| {
            n.attribute.iter().find_map(|a| {
                a.t.as_ref()
                    .and_then(bad)
                    .or_else(|| a.tensors.iter().find_map(bad))
                    .or_else(|| a.g.as_ref().and_then(raw_tensor_of_unsupported_type))
                    .or_else(|| a.graphs.iter().find_map(raw_tensor_of_unsupported_type))
            })
        })
    })
}

/// Exactly one image input, named as the manifest says.
pub(super) fn check_image_input(manifest: &Manifest, graph: &InferenceModel) -> Result<()> {
    let inputs: Vec<String> = graph
        .input_outlets()
        .map_err(|e| model_err(manifest, e))?
        .iter()
        .map(|o| graph.node(o.node).name.clone())
        .collect();
    if inputs.len() != 1 {
        return Err(model_err(
            manifest,
            format!(
                "expected one image input, the model has {} ({inputs:?})",
                inputs.len()
            ),
        ));
    }
    if inputs[0] != manifest.input.name {
        return Err(model_err(
            manifest,
            format!("input \"{}\" named in the manifest is not in the model (its input is \"{}\"); fix \"input.name\"", manifest.input.name, inputs[0]),
        ));
    }
    Ok(())
}

/// Keep only the outputs the decoder reads, in role order (drops unused heads).
pub(super) fn select_role_outputs(manifest: &Manifest, graph: &mut InferenceModel) -> Result<()> {
    let available: Vec<String> = graph
        .output_outlets()
        .map_err(|e| model_err(manifest, e))?
        .iter()
        .map(|o| {
            graph
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| graph.node(o.node).name.clone())
        })
        .collect();
    let mut outlets = Vec::new();
    for role in manifest.family.roles() {
        let name = &manifest.outputs[role];
        let outlet = graph
            .find_outlet_label(name)
            .or_else(|| graph.node_by_name(name).ok().map(|n| OutletId::new(n.id, 0)))
            .ok_or_else(|| {
                model_err(manifest, format!("output \"{name}\" (role {role}) is not in the model; its outputs are {available:?}; fix \"outputs\" in the manifest"))
            })?;
        outlets.push(outlet);
    }
    graph
        .select_output_outlets(&outlets)
        .map_err(|e| model_err(manifest, e))?;
    Ok(())
}

/// A graph whose input size leaves some layer with an empty feature map (a valid-padded
/// convolution on too small an input) cannot run; say so before any kernel sees it.
pub(super) fn reject_empty_maps(g: &TypedModel) -> TractResult<()> {
    for node in g.nodes() {
        for out in &node.outputs {
            // Feature maps are rank 3 or more; empty rank-1 tensors (a Resize's unused `roi`)
            // are normal.
            let empty_map = out
                .fact
                .shape
                .as_concrete()
                .is_some_and(|s| s.len() >= 3 && s.contains(&0));
            if empty_map {
                return Err(TractError::msg(format!(
                    "layer \"{}\" would produce an empty feature map ({:?}); use a larger input size",
                    node.name, out.fact.shape
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn count_params(graph: &InferenceModel) -> u64 {
    graph
        .nodes()
        .iter()
        .filter_map(|n| n.op_as::<tract_onnx::tract_hir::ops::konst::Const>())
        .map(|k| k.val().len() as u64)
        .sum()
}

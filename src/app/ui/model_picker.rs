//! Choosing a model: one list of the registry's models, shown as radio buttons in the Model
//! menu and as a dropdown in the side panel; both call the same intent.

use crate::app::state::CenterscopeApp;

/// The registry's models as `(id, name, task)`, and the current model's id.
fn models(app: &CenterscopeApp) -> (Vec<(String, String, String)>, Option<String>) {
    let list = app
        .player()
        .registry()
        .entries()
        .iter()
        .map(|e| {
            let m = &e.manifest;
            (m.id.clone(), m.name.clone(), m.task.clone())
        })
        .collect();
    (list, app.player().model().map(|m| m.id.to_string()))
}

/// Radio buttons (the Model menu).
pub fn menu(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    let (list, current) = models(app);
    for (id, name, task) in list {
        let selected = current.as_deref() == Some(id.as_str());
        if ui.radio(selected, format!("{name} — {task}")).clicked() && !selected {
            app.player_mut().select_model(&id);
        }
    }
}

/// A dropdown labelled by `label` (the side panel).
pub fn combo(app: &mut CenterscopeApp, ui: &mut egui::Ui, label: egui::Id) {
    let (list, current) = models(app);
    let current_name = app
        .player()
        .model()
        .map(|m| m.manifest.name.clone())
        .unwrap_or_else(|| "loading…".into());
    let mut chosen = None;
    egui::ComboBox::from_id_salt("model_combo")
        .selected_text(current_name)
        .width(260.0)
        .show_ui(ui, |ui| {
            for (id, name, _) in &list {
                let selected = current.as_deref() == Some(id.as_str());
                if ui.selectable_label(selected, name).clicked() && !selected {
                    chosen = Some(id.clone());
                }
            }
        })
        .response
        .labelled_by(label);
    if let Some(id) = chosen {
        app.player_mut().select_model(&id);
    }
}
